"""The shapes of names that end up in Asterisk's configuration and dial strings.

One rule each, used by the directory import, the services, the API and the renderer: a value
that passes here can be written into pjsip.conf, queues.conf and a Dial() string as it is.
"""

from __future__ import annotations

import re

ENDPOINT_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,38}$")
# not all digits: a digit string addresses an official by id
SLUG_RE = re.compile(r"^(?![0-9]+$)[a-z0-9][a-z0-9_-]{0,31}$")
POOL_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,34}$")
# sip(s):user@host[:port], host a name, an IPv4 or a bracketed IPv6 address
CONTACT_RE = re.compile(r"^sips?:[A-Za-z0-9_.+\-]{1,64}@(?:[A-Za-z0-9.\-]{1,63}|\[[0-9A-Fa-f:.]{2,45}\])"
                        r"(?::[0-9]{1,5})?$")
CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
