"""The Viva Insights HR ingress API: sign-in, transport, routes, the at-most-once POST, awaiting."""
