"""The outbox of pushes, its dispatcher, and delivery through firebase-admin."""
