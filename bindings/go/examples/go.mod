module parallax.dev/examples

go 1.19

require parallax.dev/parallax v0.0.0

replace parallax.dev/parallax => ../parallax
