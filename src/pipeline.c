/* pipeline: implementation in progress on its own branch. */
