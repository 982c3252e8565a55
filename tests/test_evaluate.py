import pytest
import torch
from torch import nn

from utils.evaluate import accuracy, confusion_matrix, evaluate_classifier, predict_logits


def test_predict_logits_matches_the_model_and_restores_mode():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.Dropout(0.5))
    x = torch.randn(10, 4)
    model.train()
    logits = predict_logits(model, x, batch_size=3)
    assert model.training
    model.eval()
    assert torch.allclose(logits, model(x))
    assert not logits.requires_grad
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        predict_logits(model, x, batch_size=0)


def test_accuracy_on_a_hand_computed_example():
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [5.0, 1.0], [0.0, 1.0]])
    assert accuracy(logits, torch.tensor([0, 1, 1, 0])) == 0.5


def test_accuracy_rejects_mismatched_shapes_and_empty_sets():
    with pytest.raises(ValueError, match=r"expected logits \[N, C\] and labels \[N\]"):
        accuracy(torch.zeros(3, 2), torch.zeros(4).long())
    with pytest.raises(ValueError, match="empty"):
        accuracy(torch.zeros(0, 2), torch.zeros(0).long())


def test_evaluate_classifier_reports_loss_in_nats_and_accuracy():
    model = nn.Linear(2, 4)
    nn.init.zeros_(model.weight)
    nn.init.zeros_(model.bias)  # uniform predictions: loss = ln 4
    result = evaluate_classifier(model, torch.randn(6, 2), torch.tensor([0, 1, 2, 3, 0, 1]))
    assert result["loss"] == pytest.approx(torch.log(torch.tensor(4.0)).item())
    assert result["accuracy"] == pytest.approx(2 / 6)  # ties go to class 0


def test_confusion_matrix_counts_true_rows_and_predicted_columns():
    labels = torch.tensor([0, 0, 1, 2, 2, 2])
    preds = torch.tensor([0, 1, 1, 2, 0, 2])
    assert confusion_matrix(preds, labels, 3).tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]


def test_confusion_matrix_rejects_bad_inputs():
    with pytest.raises(ValueError, match="must lie in 0..2"):
        confusion_matrix(torch.tensor([0, 3]), torch.tensor([0, 1]), 3)
    with pytest.raises(ValueError, match=r"shape \[N\]"):
        confusion_matrix(torch.tensor([0, 1]), torch.tensor([0]), 3)


def test_labels_outside_the_classes_and_nan_logits_are_clear_errors():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    with pytest.raises(ValueError, match=r"labels must lie in 0..2, got values in 1..42"):
        accuracy(logits, torch.tensor([42, 1]))  # was an accuracy of 0.5
    with pytest.raises(ValueError, match="labels must be integer class indices, got dtype torch.float32"):
        accuracy(logits, torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="logits contain NaN or infinite values"):
        accuracy(torch.full((2, 3), float("nan")), torch.tensor([0, 1]))
    model = nn.Linear(3, 3)
    with pytest.raises(ValueError, match=r"labels must lie in 0..2"):
        evaluate_classifier(model, torch.randn(2, 3), torch.tensor([5, 0]))  # was an IndexError
    with pytest.raises(ValueError, match=r"x holds no inputs"):
        predict_logits(model, torch.zeros(0, 3))
    with pytest.raises(ValueError, match="num_classes must be at least 1, got 0"):
        confusion_matrix(torch.tensor([0]), torch.tensor([0]), 0)
    with pytest.raises(ValueError, match="predictions must be integer class indices"):
        confusion_matrix(torch.tensor([0.5]), torch.tensor([0]), 2)
