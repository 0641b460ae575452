"""The reviewer and policy console (server-rendered, mounted at /review)."""
