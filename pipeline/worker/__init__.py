"""The generation worker: its HTTP service, its settings, the request it answers and the engines
that render. Only the worker process imports the engines' models (torch); the bot imports
`requests` and `settings` from here, so this package's own import stays torch-free."""
