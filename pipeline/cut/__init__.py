"""The episode cut on this machine with ffmpeg: segments, cards, subtitles, the music bed, and
the cut job that joins approved takes into one master file."""
