"""Liu, Long, Wang, Jordan 2019: towards understanding the transferability of deep representations."""
