"""The five Yibao services. A service never imports another one."""
