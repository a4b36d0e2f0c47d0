# man/outbound.mk - pages of the outbound queue
dist_man_MANS += dmail-queued.8
