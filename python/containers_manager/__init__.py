"""Python clients of containers-manager: the Apache libcloud driver is
containers_manager.libcloud.ContainersManagerDriver."""
