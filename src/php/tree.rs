//! PLACEHOLDER: value tree JSON view.
