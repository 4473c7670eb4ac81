"""Rank candidate pretraining sources for a target dataset (the installed command `recommend-source` is the same).

    python scripts/recommend.py target=plants
    python scripts/recommend.py target=/data/my_images sources=[flowers,animals]
    python scripts/recommend.py -m target=plants,flowers,animals
    python scripts/recommend.py target=plants distance=prior_mix    # the quick ranking: no network
    python scripts/recommend.py target=plants distance=logme        # trains every source first (minutes each)
"""
from recommender.commands.recommend import main

if __name__ == "__main__":
    main()
