"""Where trials run: without Ray (``local``), under Ray Tune (``tune``, ``trainable``), results storage
(``storage``) and the driver's monitor of progress and failures (``monitor``)."""
