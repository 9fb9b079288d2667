//! Opening, creating and cloning a repository; its status.
