"""A local stand-in for the Viva Insights HR data ingress API and its Entra ID token endpoint.

`viva-insights emulator` runs it; `process.running_emulator` starts it as a real process for tests
and demos. It is not Microsoft's service: its behaviour follows Microsoft's public pages ("Import
organizational data (subsequent imports)", "File rules and validation errors") and fills their gaps with
guesses that target-viva-insights/docs/CLI.md ("The emulator") lists.
"""
