"""Phones: every SIP phone's registration and setup (SIP user, registrar, transport, codecs),
a secret reset shown once and audited, for admins in the API and on the admin pages."""
