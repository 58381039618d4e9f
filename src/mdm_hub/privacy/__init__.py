"""Privacy (個人情報保護法): erasure on request, disclosure, the log of unmasked reads."""
