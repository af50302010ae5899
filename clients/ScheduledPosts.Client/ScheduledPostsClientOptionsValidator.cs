using Microsoft.Extensions.Options;

namespace ScheduledPosts.Client;

/// <summary>Refuses options a call could not succeed with, naming every problem at once and never the key itself.</summary>
internal sealed class ScheduledPostsClientOptionsValidator : IValidateOptions<ScheduledPostsClientOptions>
{
    public ValidateOptionsResult Validate(string? name, ScheduledPostsClientOptions options)
    {
        List<string> problems = [];
        if (options.Address is null)
        {
            problems.Add("ScheduledPostsClientOptions.Address is required: the gateway's gRPC port, e.g. http://localhost:8081.");
        }
        else if (!options.Address.IsAbsoluteUri || options.Address.Scheme is not ("http" or "https"))
        {
            problems.Add($"ScheduledPostsClientOptions.Address must be an absolute http or https URL, not '{options.Address}'.");
        }

        if (string.IsNullOrWhiteSpace(options.ApiKey))
        {
            problems.Add("ScheduledPostsClientOptions.ApiKey is required: an API key of the workspace (sp_…).");
        }
        else if (options.ApiKey.Any(c => char.IsControl(c) || char.IsWhiteSpace(c)))
        {
            problems.Add("ScheduledPostsClientOptions.ApiKey must not contain spaces or control characters.");
        }

        if (options.Deadline <= TimeSpan.Zero)
        {
            problems.Add("ScheduledPostsClientOptions.Deadline must be positive.");
        }

        if (options.MaxAttempts is < 1 or > 5)
        {
            problems.Add("ScheduledPostsClientOptions.MaxAttempts must be 1 to 5 (gRPC's own limit).");
        }

        if (options.InitialBackoff <= TimeSpan.Zero)
        {
            problems.Add("ScheduledPostsClientOptions.InitialBackoff must be positive.");
        }

        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }
}
