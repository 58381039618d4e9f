"""Sites (事業所) of a corporation, group parents (親会社), and roll-ups over them."""
