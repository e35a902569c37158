SPECS = []
__all__ = []
