namespace ScheduledPosts.ServiceDefaults;

/// <summary>Prefixed, sortable ids (docs/api.md#resources): <c>post_01J…</c>.</summary>
public static class Ids
{
    public static string New(string prefix) => $"{prefix}_{Ulid.NewUlid()}";
}
