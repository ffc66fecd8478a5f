# TEMPORARY placeholder (not committed): replaced by the packed-sequence branch
class PackedSequence(tuple):
    pass
def packed_to_padded(*a): raise NotImplementedError
def padded_to_packed(*a): raise NotImplementedError
