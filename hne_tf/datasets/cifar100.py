"""CIFAR-100 (Krizhevsky 2009): 32x32 colour images of 100 fine classes, 50,000 for training and 10,000
for testing. Read and augmented as CIFAR-10 (:mod:`hne_tf.datasets.cifar10`)."""

from __future__ import annotations

from hne_tf.datasets.base import register
from hne_tf.datasets.cifar10 import Cifar10

CIFAR100_LABELS = (
    "apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus "
    "butterfly camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch "
    "crab crocodile cup dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo "
    "keyboard lamp lawn_mower leopard lion lizard lobster man maple_tree motorcycle mountain mouse "
    "mushroom oak_tree orange orchid otter palm_tree pear pickup_truck pine_tree plain plate poppy "
    "porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk skyscraper "
    "snail snake spider squirrel streetcar sunflower sweet_pepper table tank telephone television "
    "tiger tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm").split()


@register
class Cifar100(Cifar10):
    name = "cifar100"
    summary = "CIFAR-100, 32x32x3, 100 classes: a prepared TFDS data dir (--data_dir)"
    labels = tuple(CIFAR100_LABELS)
    mean = (0.5071, 0.4865, 0.4409)
    std = (0.2673, 0.2564, 0.2762)
