"""picows: the fastest WebSocket client and server library for Python asyncio."""
