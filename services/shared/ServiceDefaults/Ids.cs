namespace ScheduledPosts.ServiceDefaults;

/// <summary>Prefixed, sortable ids (SPEC §2): <c>post_01J…</c>.</summary>
public static class Ids
{
    public static string New(string prefix) => $"{prefix}_{Ulid.NewUlid()}";
}
