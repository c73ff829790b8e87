"""The local identification provider: a self-hosted stand-in for Rupt (a Django app).

It recognises a browser profile by a random secret the browser keeps (localStorage, with a
first-party cookie as fallback). It is a development and self-hosting stand-in, not a
fingerprinting service: a new profile, a private window or cleared storage is a new device.
"""
