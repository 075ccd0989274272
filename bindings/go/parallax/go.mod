module parallax.dev/parallax

go 1.19
