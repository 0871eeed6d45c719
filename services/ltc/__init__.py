"""Long-term-care insurance (长护险): assessments, care plans, agencies, visits, monthly settlement."""
