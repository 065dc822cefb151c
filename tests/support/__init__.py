"""Test helpers shared by the test folders: a fake engine, trained models, a sample portfolio."""
