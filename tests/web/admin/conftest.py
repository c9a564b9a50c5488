"""The admin tests call the API as each member of the cast (``who``), as the conversation API tests do."""

from tests.web.test_api_conversations import who

__all__ = ["who"]
