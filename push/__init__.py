"""Devices and their FCM tokens, the outbox, and delivery through firebase-admin."""
