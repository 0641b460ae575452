"""What the JSON API and the console share: app-wide dependencies, the error shape, HTTP."""
