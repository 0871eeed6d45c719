"""Settlement: hospitals post settlements; the fund pays them exactly."""
