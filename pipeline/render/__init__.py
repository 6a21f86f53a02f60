"""Render dispatch, bot side: a plan turned into queued jobs, and a scheduler that hands them
to render actors on Ray and stores what comes back as takes. No torch here."""
