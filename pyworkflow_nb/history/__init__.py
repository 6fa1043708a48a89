"""What a run's history is made of: the event vocabulary and the statuses it implies.

This layer sits just above the basics (errors, durations, serde) and below everything that
writes or reads events: definitions, the store, the engine, the notebook and the front-end.
"""
