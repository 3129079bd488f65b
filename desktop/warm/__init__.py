"""The warm Courier service: a process that has imported what commands need (and, unlocked,
holds the keystore's derived secrets in memory) and runs each command handed to it by the tiny
``dicom-courier`` client in a forked child, on the client's own terminal and files."""
