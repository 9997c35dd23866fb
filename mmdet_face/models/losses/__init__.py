from .multibox_loss import hard_negative_mining, match_priors, multibox_loss

__all__ = ['match_priors', 'hard_negative_mining', 'multibox_loss']
