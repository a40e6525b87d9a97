"""Evaluation: the standard text-to-motion metrics (`metrics`) and the protocol that runs them."""
