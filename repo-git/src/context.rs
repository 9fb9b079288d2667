//! What the band is shown of a commit: the map and the relevant files.
