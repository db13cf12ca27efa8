"""A local stand-in for the Viva Insights HR data ingress API and its Entra ID token endpoint.

`viva-insights emulator` runs it; `process.running_emulator` starts it as a real process for tests
and demos. It is not Microsoft's service: its behaviour follows the public documentation
(shared/reference/viva-ingress-api.md) and fills the gaps with documented guesses.
"""
