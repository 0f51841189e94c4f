"""Independent rebuilds of authors' evaluation pipelines, used as references for the suite."""
