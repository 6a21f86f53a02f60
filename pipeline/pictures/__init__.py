"""Pictures the team looks at in chat: contact sheets of takes, the storyboard, and the
character reference images sent to workers."""
