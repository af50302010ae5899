using ScheduledPosts.ServiceDefaults.Errors;
using ScheduledPosts.ServiceDefaults.Outbound;

namespace ScheduledPosts.Webhooks.Endpoints;

/// <summary>What an endpoint may look like: pure rules, checked on create and update.</summary>
public static class EndpointRules
{
    public const int MaxUrlLength = OutboundPolicy.MaxUrlLength;
    public const int MaxDescriptionLength = 1024;

    public static IReadOnlyList<ValidationIssue> Validate(string? url, IReadOnlyList<string>? events, string? description, OutboundPolicy policy)
    {
        var issues = new List<ValidationIssue>();
        if (policy.CheckUrl(url) is { } urlProblem)
        {
            issues.Add(new ValidationIssue("url", urlProblem));
        }

        CheckEvents(events, issues);
        CheckDescription(description, issues);
        return issues;
    }

    public static IReadOnlyList<ValidationIssue> Validate(EndpointChanges changes, OutboundPolicy policy)
    {
        var issues = new List<ValidationIssue>();
        if (changes.Url is not null && policy.CheckUrl(changes.Url) is { } urlProblem)
        {
            issues.Add(new ValidationIssue("url", urlProblem));
        }

        if (changes.Events is not null)
        {
            CheckEvents(changes.Events, issues);
        }

        CheckDescription(changes.Description, issues);
        return issues;
    }

    private static void CheckEvents(IReadOnlyList<string>? events, List<ValidationIssue> issues)
    {
        if (events is null || events.Count == 0)
        {
            issues.Add(new ValidationIssue("events", "events must list at least one event type, or \"*\"."));
            return;
        }

        for (int i = 0; i < events.Count; i++)
        {
            if (events[i] != EventTypes.All && !EventTypes.Known.Contains(events[i]))
            {
                issues.Add(new ValidationIssue($"events[{i}]", $"Unknown event type '{events[i]}'."));
            }
        }
    }

    private static void CheckDescription(string? description, List<ValidationIssue> issues)
    {
        if (description is { Length: > MaxDescriptionLength })
        {
            issues.Add(new ValidationIssue("description", $"description must be at most {MaxDescriptionLength} characters."));
        }
    }
}
