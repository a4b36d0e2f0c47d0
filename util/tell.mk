# util/tell.mk - build rules for one tool (owned by its author)
