"""What leaves the studio: the delivery copy fitted to an upload limit (as a job), and the
editor's export (timeline, EDL, subtitles, media)."""
