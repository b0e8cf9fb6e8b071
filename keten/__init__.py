"""keten: a knowledge network for national-security analysis.

Actors, threats, vital processes, supply chains and the national-security interests form one
property graph; keten stores it (SQLite by default, Neo4j on a server), answers chain-effect
questions on it and lets knowledge institutes add to it with provenance.
"""

__version__ = "0.1.0"
