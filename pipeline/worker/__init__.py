"""The render actor (a Ray actor), its settings, the request it answers and the engines that
render. Only the actor's process imports the engines' models (torch); the bot imports `actor`,
`requests` and `settings` from here, so this package's own import stays torch-free."""
