# tflint's bundled terraform ruleset, every rule (no plugin is downloaded).
plugin "terraform" {
  enabled = true
  preset  = "all"
}
