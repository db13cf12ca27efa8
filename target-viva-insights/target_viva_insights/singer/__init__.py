"""The Singer side: the message reader, the fast record path and the sink."""
